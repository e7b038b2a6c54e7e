"""Spreadsheets for the bureau: CSV that Excel opens in Chinese, and XLSX."""

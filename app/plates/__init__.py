"""QR plates: every facility's stable short code, ``/f/{code}``, printed as a QR code."""

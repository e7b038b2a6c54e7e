"""OGC API – Features, Part 1 (Core, GeoJSON) under ``/ogc``: the map feed for QGIS and GDAL."""

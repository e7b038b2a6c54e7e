"""The archives as the bureau files them: 一处一表 (one facility's record on one A4 page)
and 一乡一册 (a township's book: a cover, a table of contents, one 一处一表 page per
active facility, the township's plates at the end).

``records`` loads what the pages print in a few queries for any number of facilities;
``render`` lays them out with reportlab's platypus; ``router`` serves the PDFs, rendered
on a worker thread into a spooled temporary file and streamed from it.
"""

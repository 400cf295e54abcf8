"""One file per change of CampusHub's tables, oldest first: `NNNN_what.py`, revision id `NNNN_what`."""

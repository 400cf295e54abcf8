"""Sign-in method types: the interface (`base.py`) and one module per type CampusHub ships."""

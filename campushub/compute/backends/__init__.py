"""CampusHub's own compute backends, one module each, registered in campushub/plugins/builtin.py."""

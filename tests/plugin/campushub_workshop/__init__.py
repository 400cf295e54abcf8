"""Workshop sign-in and compute for CampusHub: an example plug-in that the test suite installs and uses."""

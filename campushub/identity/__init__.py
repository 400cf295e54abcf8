"""Sign-in methods and the accounts they produce."""

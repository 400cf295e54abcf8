"""The public library: publish projects, render them read-only for anyone, copy and launch them."""

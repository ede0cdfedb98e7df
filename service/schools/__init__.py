"""Schools, their groups and rooms, and the one cache of each school's effective policy."""

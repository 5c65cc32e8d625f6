"""Policy packs as versioned data files, one per jurisdiction."""

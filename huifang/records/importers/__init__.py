"""File imports from the core system: streaming readers and the resumable import runner."""

"""Batch declarations from Excel: the templates, the safe reading of an
uploaded file, rows into commands, the failures workbook, and the use cases
(`batches.py`) that the declarations service exposes over RPC."""

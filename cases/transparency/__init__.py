"""Transparency figures for any period (DSA Art. 15 and 24; Implementing Regulation (EU)
2024/2835, Annex I): the page at /transparency, its CSV and JSON downloads, and
`flask --app app transparency report`."""

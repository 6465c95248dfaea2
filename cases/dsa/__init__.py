"""DSA statements of reasons (Art. 17, 24(5)): the Transparency Database's format, the export for a
period, and the job that submits them."""

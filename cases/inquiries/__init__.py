"""Provider inquiries and the due-diligence dossier that answers them."""

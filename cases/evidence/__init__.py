"""Evidence files on a case: upload checks, viewing (recorded on the trail) and the blob store."""

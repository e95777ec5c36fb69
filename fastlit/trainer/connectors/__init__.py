"""Lightning's ``trainer.connectors`` path: Lightning's Trainer is assembled from connector objects, fastlit's from
mixins (``fastlit.trainer``); these modules provide the public names Lightning's connector modules export."""

"""The pipeline: the stage registry, the chain, the reconciler and the stage runner."""

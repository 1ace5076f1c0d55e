"""dl-datasets: scikit-learn's bundled data sets as dl data sets.

Importing this package does nothing; dl finds `dl_datasets.plugin` through
the ``dl`` entry-point group.
"""

__version__ = "0.1.0"

"""Change detection, the stage between the crawl and the digest: crawl → store → detect → digest → deliver.

- ``detect``: what one check of a document means (new, changed, gone, restored), from its stored state and what
  the crawl saw;
- ``diff``: word-level differences between two texts, for change statistics, `policywatch diff` and the pages
  that show a change;
- ``duplicates``: MinHash signatures and LSH bands, which group reposts of one policy.

The crawl's write path (policywatch.crawler.pipelines) calls detect and duplicates before it stores a page; the digest
and the archive site read what detection stored, and use diff to show it. Nothing here imports crawler/ or digest/.
"""

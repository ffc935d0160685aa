"""Active learning over production samples: ingest, score, select the informative ones for review.

Pure modules (no Django): `records` (ingest rows -> records), `scoring` (signals -> priority),
`selection` (strategies, near-duplicates, clusters, the 2-D map). The rest is Django-side: `models`,
`ingest`, `scores`, `quality`, `selecting`, `selectors`, `tasks`, `views`, `api`, `serializers`.
"""

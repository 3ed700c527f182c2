"""PolicyWatch against bare Scrapy on the same generated portals (``python -m bench``)."""

"""POST /v1/search-recolor"""

from core.api import task_handler

handler = task_handler("search-recolor")

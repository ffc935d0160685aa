"""The SFT review page: accept, edit into a gold answer or reject, with rubric scores and flags."""

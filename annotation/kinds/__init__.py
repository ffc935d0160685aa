"""Item kinds: the contract each kind of item fulfils, and the registry other apps add kinds to."""

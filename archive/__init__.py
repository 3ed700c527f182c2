"""The archive site: state.db as static pages analysts browse, search and diff, offline or on any web host."""

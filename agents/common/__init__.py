"""Pieces shared by the agents of several families: mirror maps (geometry) and sampling."""

"""Helpers the tests share: component fixtures, doubles, data builders."""

"""Diagnosis: kgop doctor and the support bundle."""

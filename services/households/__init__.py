"""Households: cases of one agency linked as a family, and family unity at departure."""

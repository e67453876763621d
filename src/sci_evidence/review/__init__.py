"""sci_evidence.review"""

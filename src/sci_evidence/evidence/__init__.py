"""sci_evidence.evidence"""

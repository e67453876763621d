"""sci_evidence.meta"""

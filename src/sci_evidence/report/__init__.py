"""sci_evidence.report"""

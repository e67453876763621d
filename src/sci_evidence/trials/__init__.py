"""sci_evidence.trials"""

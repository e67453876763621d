"""sci_evidence.isncsci"""

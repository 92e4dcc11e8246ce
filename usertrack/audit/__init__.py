"""The tracking-plan audit: is the data the segments stand on actually being sent?"""

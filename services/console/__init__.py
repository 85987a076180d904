"""The console: focal points, admins and auditors at work in a browser (DESIGN §8).

Server-rendered pages over the same services the API calls: every page is the API's answer for
the signed-in person, so the console can never show or do more than that person's token could.
"""

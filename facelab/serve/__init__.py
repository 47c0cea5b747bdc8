"""The classroom console (``facelab serve RUN``): the operator's seat as a web page.

:func:`facelab.serve.app.create_app` builds the application; :mod:`facelab.serve.server`
runs it on uvicorn; :mod:`facelab.serve.security` holds the guards; :mod:`facelab.serve.views`
the JSON the pages draw, computed by the command line's own functions.
"""

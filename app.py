"""Start the chat web app: ``python app.py [--host H] [--port P] [--seeds-dir D] [--index-dir D] [--mcp]``.

The same as ``rag serve``; see ``rag serve --help`` for every option.
"""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))

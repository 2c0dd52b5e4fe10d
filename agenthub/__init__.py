"""Developer tooling for the agent hub: the template translation, the local cloud and the CLI.

Nothing here is deployed: Lambda code lives under functions/.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_STATE_DIR = PROJECT_ROOT / ".agenthub"

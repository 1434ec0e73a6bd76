"""Registry changes and their numbered revisions (SPEC §15 "Registry revisions").

:mod:`~soe.revisions.diff` computes and replays diffs, :mod:`~soe.revisions.history`
records and reads revisions, :mod:`~soe.revisions.editor` makes validated
changes. The engine and the built-in tools use these modules; ``soe.registry``
is the public path that re-exports them.
"""

"""Per-node-type config rules (SPEC §13.2), kept with the rest of validation.

``soe.nodes.<type>.validation`` (and ``soe.nodes.tool.validation.config``)
re-export these at the import paths the SPEC fixes; the rules live here so that
validation never imports a node type.
"""

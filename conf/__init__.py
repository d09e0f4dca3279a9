"""trainkit's built-in configs. Shipped as the package `trainkit.conf`; Hydra reads them through
`pkg://trainkit.conf`, with a project's own `conf/` in front (see trainkit.project)."""

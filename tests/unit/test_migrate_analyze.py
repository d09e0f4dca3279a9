"""The migration analyzer on code it must follow without running it: calls in every kind of block,
constructs it cannot evaluate (rows, never exceptions), hostile input (bounded), and what the code
does to files (%%writefile, shutil.copy into a source_directory)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from trainkit.migrate.analyze import analyze
from trainkit.migrate.source import read

from ..conftest import run_cli


def notebook(path: Path, *cells: str) -> Path:
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": textwrap.dedent(c).strip("\n")} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def calls_of(*paths: Path) -> list[tuple[str, int]]:
    a = analyze(read(list(paths)))
    return [(c.sdk.name, int(c.where.rsplit("line ", 1)[1])) for c in a.calls]


def test_calls_in_functions_methods_classes_with_assert_comprehensions_and_callbacks_are_listed(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""\
        import keras
        from azureml.core import Run, Workspace

        class LogToAzure(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                run.log('val_accuracy', logs['val_accuracy'])

        def workspace():
            with open('x.txt') as f:
                return Workspace.from_config(path=f.name)

        run = Run.get_context()
        assert Run.get_context() is not None, 'offline'
        tags = [run.tag(k, v) for k, v in {'a': 1}.items()]
        handler = lambda: run.log('lambda', 1)
        ws = workspace()
        """))
    assert sorted(calls_of(script)) == [("Run.get_context", 12), ("Run.get_context", 13), ("Run.log", 6),
                                        ("Run.log", 15), ("Run.tag", 14), ("Workspace.from_config", 10)]


def test_dict_literals_with_variable_keys_and_other_odd_constructs_never_crash(tmp_path):
    script = tmp_path / "tf1.py"
    script.write_text(textwrap.dedent("""\
        import tensorflow as tf
        from azureml.core import Run
        X = tf.placeholder(tf.float32)
        feed = {X: [1, 2], ref.data_reference_name: ref.to_config(), **other, (1, [2]): 3}
        match feed:
            case {"a": 1}:
                Run.get_context().log('matched', 1)
        x = [*feed, *range(3)]
        del x
        async def go():
            async with session() as s:
                await s.run(feed_dict={X: 1})
        global_thing: int = 3
        """))
    a = analyze(read([script]))
    assert [c.sdk.name for c in a.calls] == ["Run.get_context", "Run.log"]
    assert a.not_understood == []


def test_a_statement_the_analyzer_cannot_follow_is_a_row_and_the_rest_migrates(tmp_path, monkeypatch):
    from trainkit.migrate import analyze as mod

    script = tmp_path / "s.py"
    script.write_text("from azureml.core import Workspace\nx = boom()\nws = Workspace.from_config()\n")
    real = mod.Interpreter.e_Call

    def explode(self, node):
        if getattr(node.func, "id", None) == "boom":
            raise RuntimeError("cannot follow this")
        return real(self, node)

    monkeypatch.setattr(mod.Interpreter, "e_Call", explode)
    a = analyze(read([script]))
    assert [c.sdk.name for c in a.calls] == ["Workspace.from_config"]
    assert a.not_understood == [f"{script}, line 2: RuntimeError: cannot follow this"]


def test_recursion_syntax_and_memory_errors_in_one_file_are_rows(tmp_path):
    (tmp_path / "deep.py").write_text("from azureml.core import Run\nx = " + "-" * 2_000 + "1\nRun.get_context()\n")
    (tmp_path / "deeper.py").write_text("x = " + "-" * 200_000 + "1\n")
    (tmp_path / "bad.py").write_text("def (:\n")
    (tmp_path / "ok.py").write_text("from azureml.core import Workspace\nWorkspace.from_config()\n")
    a = analyze(src := read([tmp_path]))
    assert [c.sdk.name for c in a.calls] == ["Run.get_context", "Workspace.from_config"]
    assert any(r.startswith(f"{tmp_path / 'deep.py'}, line 2: RecursionError") for r in a.not_understood)
    assert [p for p in a.problems if "bad.py" in p] == [f"{tmp_path / 'bad.py'}: does not parse (line 1: invalid syntax)"]
    assert [p.split(" (")[0] for p in a.problems if "deeper.py" in p] == [f"{tmp_path / 'deeper.py'}: cannot be parsed"]
    assert src.unreadable == []


def test_hostile_growth_stays_bounded(tmp_path):
    """L3: `s = s + s` thirty-one times in a few hundred bytes once took the analyzer to 3.1 GB."""
    code = "from azureml.core import Environment\ns = 'abcdefghij' * 1\n" + "s = s + s\n" * 31 \
        + "l = [s]\n" + "l = l + l\n" * 31 + "env = Environment(s)\n"
    assert len(code) < 800
    (tmp_path / "bomb.py").write_text(code)
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""\
        from pathlib import Path
        from trainkit.migrate.analyze import analyze
        from trainkit.migrate.source import read
        a = analyze(read([Path({str(tmp_path)!r})]))
        peak = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1]
        print(len(a.calls), peak)   # VmHWM: ru_maxrss would carry the forking pytest's peak across exec
        """)], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    calls, peak_kb = map(int, child.stdout.split())
    assert calls == 1 and peak_kb < 200_000, child.stdout


def test_files_a_notebook_writes_and_copies_into_the_source_directory_are_followed(tmp_path):
    (tmp_path / "tf_mnist.py").write_text("print('train')\n")
    (tmp_path / "utils.py").write_text("def load(): pass\n")
    nb = notebook(tmp_path / "train.ipynb",
                  """
                  import os, shutil
                  from azureml.core import ScriptRunConfig
                  script_folder = os.path.join(os.getcwd(), 'tf-mnist')
                  os.makedirs(script_folder, exist_ok=True)
                  shutil.copy('./tf_mnist.py', script_folder)
                  shutil.copy2('utils.py', os.path.join(script_folder, 'utils.py'))
                  """,
                  """
                  %%writefile conda_dependencies.yml
                  dependencies:
                  - pip:
                    - pillow
                  """,
                  """
                  with open(os.path.join(script_folder, 'settings.txt'), 'w') as f:
                      f.write('epochs=3')
                  src = ScriptRunConfig(source_directory=script_folder, script='tf_mnist.py')
                  """)
    a = analyze(read([nb]))
    folder = str(tmp_path / "tf-mnist")
    tree = a.files.tree(folder, "test")
    assert sorted(tree) == ["settings.txt", "tf_mnist.py", "utils.py"]
    assert tree["tf_mnist.py"].disk == tmp_path / "tf_mnist.py" and tree["settings.txt"].text == "epochs=3"
    assert a.files.read_text(str(tmp_path / "conda_dependencies.yml"), "t") == "dependencies:\n- pip:\n  - pillow"
    [call] = a.calls
    assert call.sdk.arg("source_directory") == folder


def test_paths_outside_the_folders_given_are_refused_never_read(tmp_path):
    """M6: a notebook naming /etc/... or ../secret, or a link out of the project, is reported."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (outside / "creds.txt").write_text("token=SECRET\n")
    (project / "link.txt").symlink_to(outside / "creds.txt")
    nb = notebook(project / "nb.ipynb",
                  """
                  import shutil
                  shutil.copy('../outside/creds.txt', './src')
                  shutil.copy('link.txt', './src')
                  shutil.copy('/etc/hostname', './src')
                  """)
    a = analyze(read([project]))
    assert a.files.tree(str(project / "src"), "t") == {}
    refused = "\n".join(a.files.refused)
    for path in (str(outside / "creds.txt"), str(project / "link.txt"), "/etc/hostname"):
        assert path in refused
    assert "SECRET" not in refused


def test_a_big_generated_file_is_not_followed_past_the_budget(tmp_path, monkeypatch):
    from trainkit.migrate import expressions as mod   # the analyzer's work budget

    monkeypatch.setattr(mod, "MAX_STEPS", 1000)
    (tmp_path / "gen.py").write_text("from azureml.core import Run\n" + "x = 1 + 2\n" * 2000 + "Run.get_context()\n")
    (tmp_path / "z.py").write_text("from azureml.core import Run\nRun.get_context()\n")
    a = analyze(read([tmp_path]))
    assert [c.where.rsplit("/", 1)[1] for c in a.calls] == ["z.py, line 2"]
    assert a.not_understood == [f"{tmp_path / 'gen.py'}, line 0: not followed further: more than 1000 steps of "
                                "analysis in this file (generated code?)"]


def test_a_file_written_with_unknown_content_or_to_an_unknown_path_is_no_phantom_file(tmp_path):
    """Seen on public v1 notebooks: `open(os.path.join(folder, name), 'w')` with a name the analyzer
    cannot know became a file called 'w', and a script written from a download (content unknown)
    was then read as a path named 'None', outside the folders given."""
    nb = notebook(tmp_path / "nb.ipynb",
                  """
                  import os, requests
                  from azureml.core import ScriptRunConfig
                  exp_dir = './sample_projects/demo'
                  os.makedirs(exp_dir, exist_ok=True)
                  code = requests.get('https://example.com/train.py')
                  with open(os.path.join(exp_dir, 'train.py'), 'w') as f:
                      f.write(code.text)
                  with open(os.path.join(exp_dir, some_name()), 'w') as f:
                      f.write('x')
                  src = ScriptRunConfig(exp_dir, script='train.py')
                  """)
    a = analyze(read([nb]))
    folder = str(tmp_path / "sample_projects" / "demo")
    tree = a.files.tree(folder, "t")
    assert sorted(tree) == ["train.py"] and tree["train.py"].text is None and tree["train.py"].disk is None
    out = run_cli(["migrate", str(tmp_path), "--to", str(tmp_path / "out")])
    assert out.returncode == 0, out.stderr
    assert "None: outside" not in out.stdout + out.stderr and "/w:" not in out.stdout + out.stderr
    assert "demo/train.py: its content is not known" in out.stdout

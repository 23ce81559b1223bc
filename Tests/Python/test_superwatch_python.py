"""Unit tests of the pure parts of the Python superwatch runs (Sources/SuperwatchCore/Python): parsing the app
spec, telling the app's files from the library's, where a missing module would be found, the files a traceback
names, and the decisions of sitecustomize.py and the fresh-bytecode check.

    python3 -B -m unittest discover -s Tests/Python

(`swift test` runs this through PythonUnitTests.swift; -B keeps __pycache__ out of the source tree.)
"""
import importlib.util
import os
import sys
import tempfile
import unittest

SOURCES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources",
                                        "SuperwatchCore", "Python"))
# The bootstrap imports superwatch_fresh_bytecode from its own directory, as it does when superwatch runs it.
sys.path.insert(0, SOURCES)


def load(file_name, module_name):
    """Imports a file of SOURCES under `module_name` (the bootstrap's file name is not a module name)."""
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(SOURCES, file_name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootstrap = load("superwatch-werkzeug.py", "superwatch_werkzeug_under_test")
sitecustomize = load("sitecustomize.py", "superwatch_sitecustomize_under_test")
fresh = sys.modules["superwatch_fresh_bytecode"]  # the check the bootstrap installed (once, as in a process)
reloader_module = load("superwatch_reloader.py", "superwatch_reloader_under_test")


class ParseSpecTests(unittest.TestCase):
    def test_a_bare_module_names_no_attribute(self):
        self.assertEqual(bootstrap.parse_spec("myapp"), ("myapp", None, (), {}))
        self.assertEqual(bootstrap.parse_spec("pkg.sub:"), ("pkg.sub", None, (), {}))

    def test_a_name_is_not_a_call(self):
        self.assertEqual(bootstrap.parse_spec("myapp:app"), ("myapp", "app", None, None))
        self.assertEqual(bootstrap.parse_spec(" pkg.web : application "), ("pkg.web", "application", None, None))

    def test_a_call_takes_literal_arguments(self):
        self.assertEqual(bootstrap.parse_spec("myapp:create_app()"), ("myapp", "create_app", (), {}))
        self.assertEqual(bootstrap.parse_spec("myapp:create_app('dev', 2, debug=True, tags=['a'])"),
                         ("myapp", "create_app", ("dev", 2), {"debug": True, "tags": ["a"]}))

    def test_what_is_not_a_name_or_a_literal_call_is_refused_without_running_it(self):
        for spec, message in [
            (":app", "no module"),
            ("myapp:create_app(", "cannot parse"),
            ("myapp:a.b", "must be a name or a call"),
            ("myapp:factories[0]()", "must be a name or a call"),
            ("myapp:create_app(__import__('os').getcwd())", "must be Python literals"),
            ("myapp:create_app(x)", "must be Python literals"),
        ]:
            with self.subTest(spec=spec):
                with self.assertRaises(bootstrap.AppNotFound) as raised:
                    bootstrap.parse_spec(spec)
                self.assertIn(message, str(raised.exception))


class TakeEnvironmentTests(unittest.TestCase):
    def test_the_spec_comes_from_the_command_line_and_descriptor_variables_are_removed(self):
        env = {"SUPERWATCH_WSGI_DEBUG": "1", "SUPERWATCH_REPORT_FD": "4", "WERKZEUG_SERVER_FD": "3",
               "WERKZEUG_RUN_MAIN": "true", "LISTEN_FDS": "1", "LISTEN_PID": "42", "LISTEN_FDNAMES": "web",
               "HOME": "/home/me"}
        settings = bootstrap.take_environment(["superwatch-werkzeug.py", " app:app "], env)
        self.assertEqual(settings, {"spec": "app:app", "debug": True, "server_fd": 3, "report_fd": 4})
        self.assertEqual(env, {"SUPERWATCH_WSGI_DEBUG": "1", "HOME": "/home/me"})

    def test_without_a_report_pipe_nothing_is_reported(self):
        settings = bootstrap.take_environment(["superwatch-werkzeug.py"], {})
        self.assertEqual(settings, {"spec": "", "debug": False, "server_fd": 3, "report_fd": -1})


class AppDirectoryTestCase(unittest.TestCase):
    """A reporter that reports nowhere and an app directory (its real path), removed after each test."""

    def setUp(self):
        self.reporter = bootstrap.FileReporter(-1)
        self.directory = tempfile.TemporaryDirectory()
        self.app = os.path.realpath(self.directory.name)

    def tearDown(self):
        self.directory.cleanup()


class ModuleFilterTests(AppDirectoryTestCase):
    """Which loaded files are the app's (watched) and which are not."""

    def test_the_standard_library_and_installed_packages_are_not_the_apps(self):
        self.assertTrue(self.reporter.is_library(os.__file__))
        self.assertTrue(self.reporter.is_library("/somewhere/lib/python3.11/site-packages/flask/app.py"))
        self.assertTrue(self.reporter.is_library("/usr/lib/python3/dist-packages/yaml/__init__.py"))
        self.assertFalse(self.reporter.is_library(os.path.join(self.app, "app.py")))

    def test_superwatchs_own_files_are_never_reported(self):
        self.assertTrue(self.reporter.is_library(os.path.join(SOURCES, "superwatch-werkzeug.py")))
        self.assertTrue(self.reporter.is_library(os.path.join(SOURCES, "superwatch_fresh_bytecode.py")))
        self.assertNotIn(os.path.join(SOURCES, "superwatch-werkzeug.py"), self.reporter.module_files())

    def test_an_app_installed_in_site_packages_is_still_the_apps(self):
        site = os.path.join(self.app, "lib", "site-packages")
        os.makedirs(os.path.join(site, "myapp"))
        init = os.path.join(site, "myapp", "__init__.py")
        open(init, "w").close()
        self.assertTrue(self.reporter.is_library(init))
        sys.path.insert(0, site)
        try:
            importlib.import_module("myapp")
            self.reporter.set_app_module("myapp.web")
            self.assertFalse(self.reporter.is_library(init))
            self.assertTrue(self.reporter.is_library(os.path.join(site, "other", "__init__.py")))
        finally:
            sys.path.remove(site)
            sys.modules.pop("myapp", None)

    def test_a_module_the_loader_read_is_reported_with_the_stamp_it_had_then(self):
        directory = os.path.join(self.app, "a directory")
        os.makedirs(directory)
        path = os.path.join(directory, "superwatch_stamped_module.py")
        with open(path, "w") as module:
            module.write("VALUE = 1\n")
        before = os.stat(path)
        sys.path.insert(0, directory)
        try:
            importlib.import_module("superwatch_stamped_module")
            with open(path, "a") as module:  # an edit right after the import
                module.write("VALUE = 2\n")
            self.assertEqual(bootstrap.FileReporter.line(path),
                             f"loaded {before.st_mtime_ns} {before.st_size} {path}\n")
            unread = os.path.join(directory, "never_imported.py")
            self.assertEqual(bootstrap.FileReporter.line(unread), f"file {unread}\n")
        finally:
            sys.path.remove(directory)
            sys.modules.pop("superwatch_stamped_module", None)

    def test_installed_packages_are_named_for_a_standby_once(self):
        self.reporter.module_files()
        sys.modules["superwatch_fake_installed"] = type(sys)("superwatch_fake_installed")
        sys.modules["superwatch_fake_installed"].__file__ = "/venv/lib/python3.11/site-packages/fake/__init__.py"
        try:
            self.reporter.new_preloads = []
            self.reporter.module_files()
            self.assertEqual(self.reporter.new_preloads, ["superwatch_fake_installed"])
            self.reporter.new_preloads = []
            self.reporter.module_files()
            self.assertEqual(self.reporter.new_preloads, [])
        finally:
            del sys.modules["superwatch_fake_installed"]


class MissingModuleTests(AppDirectoryTestCase):
    """Where a module that was not found would be found once it exists."""

    def error(self, name):
        return ModuleNotFoundError(f"No module named {name!r}", name=name)

    def test_a_top_level_module_in_each_directory_of_the_path_but_the_librarys(self):
        extra = os.path.join(self.app, "extra")
        os.mkdir(extra)
        path = [self.app, extra, os.path.dirname(os.__file__), os.path.join(self.app, "missing"),
                os.path.join(self.app, "python311.zip"), self.app, SOURCES]
        candidates = bootstrap.missing_module_candidates(self.error("nosuchmodule"), path, self.reporter.is_library)
        self.assertEqual(candidates, [
            os.path.join(self.app, "nosuchmodule.py"), os.path.join(self.app, "nosuchmodule", "__init__.py"),
            os.path.join(extra, "nosuchmodule.py"), os.path.join(extra, "nosuchmodule", "__init__.py"),
        ])

    def test_a_submodule_in_its_package(self):
        package = os.path.join(self.app, "pkg")
        os.mkdir(package)
        open(os.path.join(package, "__init__.py"), "w").close()
        sys.path.insert(0, self.app)
        try:
            importlib.import_module("pkg")
            candidates = bootstrap.missing_module_candidates(self.error("pkg.views"), [], self.reporter.is_library)
        finally:
            sys.path.remove(self.app)
            sys.modules.pop("pkg", None)
        self.assertEqual(candidates, [os.path.join(package, "views.py"), os.path.join(package, "views", "__init__.py")])

    def test_other_errors_name_no_candidates(self):
        self.assertEqual(bootstrap.missing_module_candidates(ImportError("cannot import name 'x'"), [self.app],
                                                             self.reporter.is_library), [])
        self.assertEqual(bootstrap.missing_module_candidates(SyntaxError("bad"), [self.app], self.reporter.is_library),
                         [])


class TracebackFilesTests(AppDirectoryTestCase):
    def test_a_syntax_error_names_its_file_and_the_frames_that_led_there(self):
        broken = os.path.join(self.app, "broken.py")
        source = "def f(:\n"
        with open(broken, "w") as f:
            f.write(source)
        try:
            compile(source, broken, "exec")
        except SyntaxError as error:
            files = bootstrap.traceback_files(error, self.reporter)
        self.assertEqual(files[0], broken)
        self.assertIn(os.path.abspath(__file__), files, "this test's own frame is not a library's")

    def test_the_error_an_exception_was_raised_from_counts_too(self):
        origin = os.path.join(self.app, "settings.py")
        code = compile("raise KeyError('SECRET_KEY')", origin, "exec")
        try:
            try:
                exec(code, {})
            except KeyError as error:
                raise RuntimeError("no config") from error
        except RuntimeError as error:
            files = bootstrap.traceback_files(error, self.reporter)
        self.assertIn(origin, files)


class SitecustomizeTests(unittest.TestCase):
    def test_draining_needs_a_held_socket_and_no_opt_out(self):
        self.assertTrue(sitecustomize.wants_draining({"WERKZEUG_SERVER_FD": "3"}))
        self.assertFalse(sitecustomize.wants_draining({}))
        self.assertFalse(sitecustomize.wants_draining({"WERKZEUG_SERVER_FD": "3", "SUPERWATCH_NO_DRAIN": "1"}))

    def test_the_finder_looks_only_for_werkzeugs_server_and_reloader(self):
        finder = sitecustomize._SuperwatchFinder()
        self.assertIsNone(finder.find_spec("json"))
        self.assertIsNone(finder.find_spec("werkzeug"))


class FreshBytecodeTests(unittest.TestCase):
    def test_library_files_keep_pythons_check_and_the_apps_do_not(self):
        roots = fresh.library_roots()
        self.assertTrue(fresh.is_library(os.__file__, roots))
        self.assertTrue(fresh.is_library("/opt/venv/lib/python3.11/site-packages/flask/app.py", roots))
        self.assertFalse(fresh.is_library("/home/me/project/app.py", roots))


class ReloaderTests(AppDirectoryTestCase):
    """superwatch_reloader.py: what it takes from the environment, what a stop waits for, what a standby may import."""

    def test_superwatchs_variables_leave_the_environment(self):
        env = {"SUPERWATCH_REPORT_FD": "-1", "SUPERWATCH_STANDBY_FD": "", "SUPERWATCH_PRELOAD": "flask,jinja2",
               "WERKZEUG_SERVER_FD": "3", "HOME": "/home/me"}
        reloader = reloader_module.Reloader(env)
        self.assertEqual(env, {"WERKZEUG_SERVER_FD": "3", "HOME": "/home/me"})
        self.assertEqual((reloader.report_fd, reloader.standby_fd, reloader.preload), (-1, -1, "flask,jinja2"))

    def test_a_request_counts_until_its_response_is_closed(self):
        reloader = reloader_module.Reloader({})
        closed = []

        class Body(list):
            def close(self):
                closed.append(True)

        app = reloader.in_flight.application(lambda environ, start_response: Body([b"ok"]))
        response = app({}, None)
        self.assertEqual(reloader.in_flight.count, 1)
        self.assertEqual(list(response), [b"ok"])
        response.close()
        response.close()
        self.assertEqual((reloader.in_flight.count, closed), (0, [True]))

    def test_a_request_that_raises_counts_no_more(self):
        reloader = reloader_module.Reloader({})

        def failing(environ, start_response):
            raise ValueError("boom")

        with self.assertRaises(ValueError):
            reloader.in_flight.application(failing)({}, None)
        self.assertEqual(reloader.in_flight.count, 0)

    def test_a_standby_imports_installed_modules_but_never_the_apps(self):
        with open(os.path.join(self.app, "superwatch_app_module.py"), "w") as module:
            module.write("VALUE = 1\n")
        sys.path.insert(0, self.app)
        try:
            guard = reloader_module.runtime.LibraryOnly(self.reporter.is_library)
            with self.assertRaises(ImportError):
                guard.find_spec("superwatch_app_module")
            self.assertIsNone(guard.find_spec("json"), "the usual finders load the standard library")
            self.assertIsNone(guard.find_spec("werkzeug"), "and installed packages")
        finally:
            sys.path.remove(self.app)

    def test_only_the_reloaders_servers_and_template_loaders_are_patched(self):
        finder = reloader_module._Finder(reloader_module._patches(reloader_module.Reloader({})))
        self.assertIsNone(finder.find_spec("json"))
        self.assertIsNone(finder.find_spec("werkzeug"))
        self.assertEqual(set(finder.patches), {"werkzeug._reloader", "werkzeug.serving", "django.utils.autoreload",
                                               "django.core.servers.basehttp", "jinja2.loaders"})


if __name__ == "__main__":
    unittest.main()

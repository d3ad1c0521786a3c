"""Helpers for hook scripts run by vdsm-node.

vdsm's hooks (the vdsm-hook-* packages and most hand-written ones) are Python
scripts that `import hooking`. vdsm-node puts this directory on the scripts'
PYTHONPATH so they find a module of that name offering the same functions.
It is vdsm-node's own module (docs/hooks.md), not vdsm's.

A script finds its data in a file named by an environment variable:
`_hook_domxml` (a domain XML) or `_hook_json` (a JSON document); what it
writes back there is what the agent goes on with. Exit 0 for success, 1 for a
failure after which the hook point's remaining scripts still run, 2 for a
failure that stops them.
"""
import json
import os
import subprocess
import sys
from xml.dom import minidom


def _data_file(variable):
    path = os.environ.get(variable)
    if not path:
        raise RuntimeError(
            '%s is not set: this script is not being run as a hook of that'
            ' kind' % variable)
    return path


def read_domxml():
    """The domain XML handed to this hook, as an xml.dom.minidom Document."""
    with open(_data_file('_hook_domxml'), 'rb') as source:
        return minidom.parseString(source.read())


def write_domxml(domxml):
    """Replace the domain XML the agent goes on with (a minidom Document)."""
    text = domxml.toxml(encoding='utf-8')
    with open(_data_file('_hook_domxml'), 'wb') as target:
        target.write(text)


def read_json():
    """The JSON document handed to a JSON hook, decoded."""
    with open(_data_file('_hook_json'), encoding='utf-8') as source:
        return json.load(source)


def write_json(data):
    """Replace the JSON document the agent goes on with."""
    with open(_data_file('_hook_json'), 'w', encoding='utf-8') as target:
        json.dump(data, target)


def log(message):
    """A line for the agent's log (hooks' stderr is logged with their exit code)."""
    sys.stderr.write(message + '\n')


def exit_hook(message, return_code=2):
    """Print `message` to stderr and end the script with `return_code` (default 2)."""
    sys.stderr.write(message + '\n')
    sys.exit(return_code)


def tobool(value):
    """A custom property's text as a boolean.

    True for True, for 'true' in any case and for the text of a non-zero
    integer; False for anything else, None and unparsable text included.
    """
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    try:
        if value.lower() == 'true':
            return True
        return bool(int(value))
    except (AttributeError, TypeError, ValueError):
        return False


def execCmd(command, sudo=False, cwd=None, data=None, raw=False, env=None,
            **_unused):
    """Run `command` (an argv list, no shell) and return (rc, out, err).

    out and err are bytes, split into lines unless `raw`. With `sudo`, a
    process that is not root runs it through `sudo -n`.
    """
    argv = list(command)
    if sudo and os.geteuid() != 0:
        argv = ['sudo', '-n', '--'] + argv
    done = subprocess.run(argv, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=cwd, env=env,
                          check=False)
    if raw:
        return done.returncode, done.stdout, done.stderr
    return (done.returncode, done.stdout.splitlines(),
            done.stderr.splitlines())


def load_vm_launch_flags_from_file(vm_id):
    """Launch flags are not supported by vdsm-node: always libvirt's 0 (VIR_DOMAIN_NONE)."""
    return 0


def dump_vm_launch_flags_to_file(vm_id, flags):
    """Launch flags are not supported by vdsm-node: the request is logged and ignored."""
    log('vdsm-node ignores launch flags (%s) set by a hook for VM %s'
        % (flags, vm_id))

"""Helpers for the S3 tests: the cluster's S3 endpoint and root key (from cluster.json), an
environment for real command-line clients with nothing inherited from the caller's AWS_* or
RCLONE_* variables, and small file helpers."""
import hashlib
import os
import subprocess

AWS = "/usr/bin/aws"  # Debian's awscli v2 (a pyenv shim may shadow it on PATH)
RCLONE = "/usr/bin/rclone"
S3CMD = "/usr/bin/s3cmd"
NODE = "node"


def s3_info(cluster):
    """{"endpoint", "region", "access_key", "secret_key"} of the cluster's S3 front end."""
    return cluster.info["s3"]


def clean_env(home):
    """os.environ without AWS_*/RCLONE_*/S3CMD settings, HOME pointing at a private dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "RCLONE_", "BOTO_"))}
    env["HOME"] = str(home)
    os.makedirs(env["HOME"], exist_ok=True)
    return env


def aws_env(cluster, home, config=""):
    """Environment for /usr/bin/aws against the cluster; config is extra [default] lines."""
    info = s3_info(cluster)
    env = clean_env(home)
    cfg = os.path.join(str(home), "aws-config")
    with open(cfg, "w", encoding="ascii") as f:
        f.write("[default]\nregion = %s\n%s" % (info["region"], config))
    env.update({"AWS_ACCESS_KEY_ID": info["access_key"],
                "AWS_SECRET_ACCESS_KEY": info["secret_key"],
                "AWS_DEFAULT_REGION": info["region"],
                "AWS_CONFIG_FILE": cfg,
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(str(home), "no-credentials"),
                "AWS_PAGER": "",
                "AWS_EC2_METADATA_DISABLED": "true"})
    return env


def aws(cluster, home, *args, config="", check=True, timeout=600):
    """Runs `aws --endpoint-url <s3> args...`; returns the CompletedProcess (text)."""
    cmd = [AWS, "--endpoint-url", s3_info(cluster)["endpoint"]] + list(args)
    res = subprocess.run(cmd, env=aws_env(cluster, home, config), capture_output=True,
                         text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n"
                             f"{res.stderr}")
    return res


def rclone_env(cluster, home):
    """Environment defining an rclone remote named `hs` (provider Other: path-style, v1 lists)."""
    info = s3_info(cluster)
    env = clean_env(home)
    env.update({"RCLONE_CONFIG": os.path.join(str(home), "rclone.conf"),
                "RCLONE_CONFIG_HS_TYPE": "s3",
                "RCLONE_CONFIG_HS_PROVIDER": "Other",
                "RCLONE_CONFIG_HS_ENV_AUTH": "false",
                "RCLONE_CONFIG_HS_ACCESS_KEY_ID": info["access_key"],
                "RCLONE_CONFIG_HS_SECRET_ACCESS_KEY": info["secret_key"],
                "RCLONE_CONFIG_HS_REGION": info["region"],
                "RCLONE_CONFIG_HS_ENDPOINT": info["endpoint"]})
    return env


def rclone(cluster, home, *args, check=True, timeout=600):
    cmd = [RCLONE, "--retries", "1", "--low-level-retries", "2"] + list(args)
    res = subprocess.run(cmd, env=rclone_env(cluster, home), capture_output=True, text=True,
                         timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n"
                             f"{res.stderr}")
    return res


def s3cmd_config(cluster, home):
    """Writes an s3cmd config for the cluster (plain http, path-style, SigV4); returns its path."""
    info = s3_info(cluster)
    hostport = info["endpoint"].split("://", 1)[1].rstrip("/")
    os.makedirs(str(home), exist_ok=True)
    path = os.path.join(str(home), "s3cfg")
    with open(path, "w", encoding="ascii") as f:
        f.write("[default]\n"
                f"access_key = {info['access_key']}\n"
                f"secret_key = {info['secret_key']}\n"
                f"host_base = {hostport}\n"
                f"host_bucket = {hostport}\n"
                f"bucket_location = {info['region']}\n"
                "use_https = False\n"
                "signature_v2 = False\n"
                "check_ssl_certificate = False\n")
    return path


def s3cmd(cluster, home, *args, check=True, timeout=600):
    cmd = [S3CMD, "-c", s3cmd_config(cluster, home)] + list(args)
    res = subprocess.run(cmd, env=clean_env(home), capture_output=True, text=True,
                         timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n"
                             f"{res.stderr}")
    return res


def write_random(path, size, seed=0):
    """A file of size pseudo-random bytes (deterministic per seed); returns its MD5 hex."""
    h = hashlib.md5()
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    left = size
    with open(path, "wb") as f:
        i = 0
        while left:
            chunk = hashlib.sha256(block[:64] + i.to_bytes(8, "little")).digest() + block
            chunk = chunk[:min(left, len(chunk))]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
            i += 1
    return h.hexdigest()


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

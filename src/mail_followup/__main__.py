from mail_followup.cli.main import main

if __name__ == "__main__":  # not when a pass's process (multiprocessing's spawn) imports it again
    raise SystemExit(main())

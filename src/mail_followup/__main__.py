from mail_followup.cli import main

raise SystemExit(main())

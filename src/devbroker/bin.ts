process.stdout.write('ftbroker: not built yet\n');

%% elixir.erl - the warm elixir bootstrap (registry/languages.yaml,
%% elixir's "prestart"): not a module but Erlang expressions, which the
%% prestarted "erl ... -noshell -eval" reads raw and evaluates (erl_eval)
%% where a cold "elixir FILE ARGS" runs "-s elixir start_cli". It starts no
%% process of its own, so the program's pids are the cold ones.
%%
%% It does what elixir:start_cli/0 does (Elixir 1.14), in the same process
%% (init's, which runs -s and -eval alike): start the elixir application
%% and logger, then Kernel.CLI.main/1 with the plain arguments. Only the
%% arguments come from fd 63 (the handoff pipe, moved there from fd 3 by
%% the catalogue's perl trampoline so that the BEAM's own descriptors keep
%% their cold numbers): the run argv after "elixir", NUL-terminated each,
%% made strings as init makes its plain arguments. Kernel.CLI then runs
%% the entry in a process of its own (System.argv, error output, at_exit
%% and the exit status are its), so no frame of this file is below the
%% program's. It reads fd 63 through an fd port, not by opening
%% /proc/self/fd/63: the guest's pipe is root's, the BEAM is not. Erlang
%% cannot close a descriptor it did not open: fd 63 stays open, and the
%% program's first port is one number higher (docs/ARCHITECTURE.md,
%% "Prestart").
{ok, _} = application:ensure_all_started(elixir),
_ = case code:ensure_loaded('Elixir.Logger') of
	{module, _} -> application:start(logger);
	{error, _} -> ok
    end,
IsoboxPort = open_port({fd, 63, 63}, [in, binary, eof]),
IsoboxRead = fun IsoboxRead(IsoboxAcc) ->
		     receive
			 {IsoboxPort, {data, IsoboxD}} -> IsoboxRead([IsoboxAcc | IsoboxD]);
			 {IsoboxPort, eof} -> iolist_to_binary(IsoboxAcc)
		     end
	     end,
IsoboxHand = IsoboxRead([]),
port_close(IsoboxPort),
'Elixir.Kernel.CLI':main(
  [case unicode:characters_to_list(IsoboxA, file:native_name_encoding()) of
       IsoboxL when is_list(IsoboxL) -> IsoboxL;
       _ -> binary_to_list(IsoboxA)
   end || IsoboxA <- binary:split(binary:part(IsoboxHand, 0, byte_size(IsoboxHand) - 1),
				  <<0>>, [global])]).
